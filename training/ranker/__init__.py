"""Second stage: a learning-to-rank model over SASRec candidates and Feast features."""
