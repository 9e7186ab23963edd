"""Where crops go: Twitter's crop rules and a drop-in for its ``candidate_crops`` program."""
