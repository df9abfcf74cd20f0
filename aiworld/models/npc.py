"""NPCs, players, relationships, memories, factions and reputation (the NPC side's domain).

Enumerations follow the system we replace (../shared/BRIEF.md §2) so that map-server scripts
that already use their names keep working. Logic on these rows lives in aiworld.npc services.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIM = 256  # the packaged local embedder (aiworld.npc.embeddings)

UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]
SIGNED_UNIT = [MinValueValidator(-1.0), MaxValueValidator(1.0)]

FACTION_TYPES = ("kingdom", "guild", "merchant", "religious", "military", "criminal", "neutral")
MOODS = ("neutral", "happy", "content", "sad", "angry", "afraid", "suspicious", "excited")


class Faction(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=[(k, k) for k in FACTION_TYPES])
    description = models.TextField(blank=True)
    home_map = models.CharField(max_length=40, blank=True)
    rivals = models.ManyToManyField("self", blank=True, symmetrical=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class NPC(models.Model):
    """A non-player character the map server knows by `game_id`."""

    game_id = models.PositiveIntegerField(unique=True, help_text="the map server's NPC id")
    name = models.CharField(max_length=100)
    job_class = models.CharField("class", max_length=40, default="merchant")
    map = models.CharField(max_length=40, default="prontera")
    x = models.IntegerField(default=0)
    y = models.IntegerField(default=0)
    # Big Five, 0..1
    openness = models.FloatField(default=0.5, validators=UNIT)
    conscientiousness = models.FloatField(default=0.5, validators=UNIT)
    extraversion = models.FloatField(default=0.5, validators=UNIT)
    agreeableness = models.FloatField(default=0.5, validators=UNIT)
    neuroticism = models.FloatField(default=0.5, validators=UNIT)
    # moral axes, -1..1; the 3x3 alignment is derived from them (aiworld.npc.personality)
    altruism = models.FloatField(default=0.0, validators=SIGNED_UNIT)
    lawful = models.FloatField(default=0.0, validators=SIGNED_UNIT)
    honest = models.FloatField(default=0.0, validators=SIGNED_UNIT)
    mood = models.CharField(max_length=20, choices=[(m, m) for m in MOODS], default="neutral")
    quirks = models.JSONField(default=list, blank=True, help_text="short phrases, e.g. \"ends sentences with 'nya'\"")
    backstory = models.TextField(blank=True)
    faction = models.ForeignKey(Faction, null=True, blank=True, on_delete=models.SET_NULL, related_name="npcs")
    active = models.BooleanField(default=True)
    importance_since_reflection = models.FloatField(default=0.0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "NPC"

    def __str__(self) -> str:
        return f"{self.name} #{self.game_id}"


class PlayerCharacter(models.Model):
    """A player's character on one map server."""

    server = models.CharField(max_length=64, help_text="map-server id")
    char_id = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    karma = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["server", "name"]
        constraints = [models.UniqueConstraint(fields=["server", "char_id"], name="one_character_per_server_id")]

    def __str__(self) -> str:
        return f"{self.name} ({self.server}/{self.char_id})"


class Relationship(models.Model):
    npc = models.ForeignKey(NPC, on_delete=models.CASCADE, related_name="relationships")
    player = models.ForeignKey(PlayerCharacter, on_delete=models.CASCADE, related_name="relationships")
    affinity = models.IntegerField(default=0, validators=[MinValueValidator(-100), MaxValueValidator(100)])
    trust = models.FloatField(default=0.5, validators=UNIT)
    interactions = models.PositiveIntegerField(default=0)
    last_interaction = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["npc", "player"], name="one_relationship_per_pair"),
            models.CheckConstraint(condition=models.Q(affinity__gte=-100, affinity__lte=100),
                                   name="affinity_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.npc} ↔ {self.player}: {self.affinity:+d}"


class Memory(models.Model):
    """One memory of one NPC (Generative Agents: observations, facts and reflections)."""

    class Kind(models.TextChoices):
        EPISODIC = "episodic"
        SEMANTIC = "semantic"
        REFLECTION = "reflection"

    # no index of its own: memory_npc_vectors and memory_npc_created both start with npc_id
    npc = models.ForeignKey(NPC, on_delete=models.CASCADE, related_name="memories", db_index=False)
    player = models.ForeignKey(PlayerCharacter, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="memories", help_text="whom the memory is about, if anyone")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.EPISODIC)
    text = models.TextField()
    importance = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(10)])
    embedding = VectorField(dimensions=EMBEDDING_DIM)
    evidence = models.JSONField(default=list, blank=True, help_text="ids of the memories a reflection rests on")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_accessed = models.DateTimeField(auto_now_add=True)
    access_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "memories"
        indexes = [
            # Nothing that retrieval updates (last_accessed, access_count) is indexed, and the table keeps
            # 25% free space per page (migration 0003): access updates stay HOT, no index is rewritten.
            models.Index(fields=["npc", "created_at"], name="memory_npc_created"),
            # Candidate search reads an NPC's vectors from this index alone (an index-only scan): they sit
            # together on ~150 index pages, where the rows they came from are spread over ~1,000 heap pages
            # (memories are written over time, between everyone else's). aiworld.npc.memory.candidate_query.
            models.Index(fields=["npc", "player"], include=["id", "embedding"], name="memory_npc_vectors"),
            HnswIndex(name="memory_embedding_hnsw", fields=["embedding"], m=16, ef_construction=64,
                      opclasses=["vector_cosine_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.npc.name} [{self.kind} {self.importance}] {self.text[:60]}"


class Reputation(models.Model):
    """A player's standing with a faction; tiers in aiworld.npc.reputation."""

    player = models.ForeignKey(PlayerCharacter, on_delete=models.CASCADE, related_name="reputations")
    faction = models.ForeignKey(Faction, on_delete=models.CASCADE, related_name="reputations")
    points = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["player", "faction"], name="one_reputation_per_pair")]

    def __str__(self) -> str:
        return f"{self.player} with {self.faction.name}: {self.points}"


class DialogueTurn(models.Model):
    """One thing a player said to an NPC and the reply, as GMs review conversations."""

    npc = models.ForeignKey(NPC, on_delete=models.CASCADE, related_name="dialogue")
    player = models.ForeignKey(PlayerCharacter, on_delete=models.CASCADE, related_name="dialogue")
    request_id = models.CharField(max_length=64, help_text="the caller's id; a duplicate returns the stored reply")
    player_text = models.TextField()
    reply = models.TextField()
    emotion = models.CharField(max_length=20)
    relationship_delta = models.IntegerField(default=0)
    source = models.CharField(max_length=20, help_text="llm, template, exact_cache, semantic_cache, ...")
    flagged = models.CharField(max_length=200, blank=True, help_text="why the input or output was judged unsafe")
    quest_offer = models.ForeignKey("aiworld.Quest", null=True, blank=True, on_delete=models.SET_NULL)
    latency_ms = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["npc", "request_id"], name="one_turn_per_request")]
