"""ElastiCache's own HTTP API (the Query protocol, SigV4, XML) in front of the CacheControl
servicers, so boto3 and aws-cli work against the fleet by changing only the endpoint URL."""
