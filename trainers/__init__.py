"""Trainers: one readable file per algorithm (DQN, PPO, SAC, supervised).

Imported only by the `train` queue's tasks and the train/export management commands, never by the
web process or the gpu/cpu workers (tests/unit/test_imports.py holds that line): torch is heavy.
"""
