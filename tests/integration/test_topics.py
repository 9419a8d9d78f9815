"""Topic catalog on the real broker: create is idempotent, describe reports, mismatch refused."""

import asyncio
import dataclasses

import pytest

from infra.kafka_io import TopicMismatchError, create_topics, describe_topics
from infra.settings import Settings
from schemas.catalog import ASSET_PARTITIONS, TOPICS


def test_create_is_idempotent_and_describe_matches_the_catalog(kafka_settings: Settings) -> None:
    created = asyncio.run(create_topics(kafka_settings))
    assert sorted(created) == sorted(kafka_settings.topic(t.name) for t in TOPICS)
    assert asyncio.run(create_topics(kafka_settings)) == []

    states = {s.spec.name: s for s in asyncio.run(describe_topics(kafka_settings))}
    assert all(s.exists for s in states.values())
    assert states["md.funding"].partitions == ASSET_PARTITIONS
    assert states["derived.spreads"].configs["cleanup.policy"] == "compact"
    assert states["md.funding"].configs["retention.ms"] == "-1"


def test_a_topic_with_another_partition_count_is_refused(kafka_settings: Settings) -> None:
    spec = dataclasses.replace(TOPICS[0], partitions=ASSET_PARTITIONS + 1)
    asyncio.run(create_topics(kafka_settings, [spec]))
    with pytest.raises(TopicMismatchError, match="partitions"):
        asyncio.run(create_topics(kafka_settings, [TOPICS[0]]))
