import Testing

// Replaced as the AggregatorHTTP layer lands.
