"""The chaos soak: a real `tradebot run` trades a compressed day through the loopback Alpaca
while faults land every few seconds, then settles and is audited against the broker."""
