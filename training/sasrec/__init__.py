"""SASRec: a causal self-attention model over a user's item sequence (Kang & McAuley, 2018)."""
