// Placeholder until the Aggregator layer lands.
