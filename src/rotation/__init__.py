"""The Secrets Manager rotation Lambda for short-cut's app secret."""
