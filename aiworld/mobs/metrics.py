"""Prometheus metrics of monster decisions, under the seed system's names (kept so existing
dashboards work). Multi-process safe through PROMETHEUS_MULTIPROC_DIR (aiworld/metrics.py)."""

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("ml_inference_requests_total", "Decision requests answered", ["archetype", "level"])
LATENCY = Histogram("ml_inference_latency_seconds", "Engine time per pass (all merged messages)",
                    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
BATCH_SIZE = Histogram("ml_batch_size", "Requests per engine pass",
                       buckets=(1, 8, 32, 128, 512, 1024, 2048, 4096, 8192, 16384))
CACHE_HITS = Counter("ml_cache_hits_total", "Cache hits", ["tier"])
CACHE_MISSES = Counter("ml_cache_misses_total", "Cache misses", ["tier"])
CACHE_HIT_RATE = Gauge("ml_cache_hit_rate", "Hit rate since the worker started", ["tier"],
                       multiprocess_mode="livemax")
FALLBACK_LEVEL = Gauge("ml_fallback_level", "Current fallback level (1 best .. 5 traditional AI)",
                       multiprocess_mode="livemax")
FALLBACK_TRANSITIONS = Counter("ml_fallback_transitions_total", "Fallback level changes",
                               ["from_level", "to_level"])
VRAM = Gauge("ml_vram_usage_bytes", "GPU memory in use (GPU 0)", multiprocess_mode="livemax")
RAM = Gauge("ml_ram_usage_bytes", "Resident memory of the worker process", multiprocess_mode="liveall")
CPU = Gauge("ml_cpu_usage_percent", "CPU use of the worker process", multiprocess_mode="liveall")
MODELS_LOADED = Gauge("ml_models_loaded_total", "onnxruntime sessions loaded", multiprocess_mode="liveall")
MODEL_ERRORS = Counter("ml_model_inference_errors_total", "Engine passes with a model error")
SERVICE_UP = Gauge("ml_service_up", "1 while a decision worker is serving", multiprocess_mode="livemax")
