"""Recommendations: pure ranking maths, the recommender that runs the queries, and explanations."""
