// Placeholder until the BinDaemon layer lands.
