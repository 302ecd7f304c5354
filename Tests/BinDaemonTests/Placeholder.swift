import Testing

// Replaced as the BinDaemon layer lands.
