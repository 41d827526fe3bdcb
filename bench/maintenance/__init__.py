"""`bench run maintenance`: what the review's materialized view costs to keep fresh."""
