import Testing

// Replaced as the Aggregator layer lands.
