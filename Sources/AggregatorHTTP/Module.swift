// Placeholder until the AggregatorHTTP layer lands.
