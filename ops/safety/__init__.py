"""What stops trading: the trading state and its one owner, the kill switch and the flatten it
runs, the kill and resume-request files, and the instance lock (one process per account)."""
