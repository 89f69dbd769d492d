"""Small standard control tasks used to test the learning algorithm."""
