"""Training and evaluation of the emotion CNN (imports TensorFlow only where it must)."""
