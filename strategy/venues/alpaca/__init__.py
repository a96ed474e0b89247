"""The Alpaca venue (alpaca-py): broker over REST + trade_updates, bars over the data stream.

The engine never sees an alpaca type: everything is converted here, and alpaca-py's errors are
mapped once, at this boundary, onto strategy.venue's BrokerError tree.
"""
