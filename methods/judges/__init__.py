"""Evaluation judges: models that measure results and that no method's loss uses or imitates.

``faces.py``: dlib's landmarks (open mouth, face position, head turn) and face descriptors (is it the same person),
MTCNN's detection rate — used by Features, Directions and Identity. ``digits.py``: scikit-learn's digits split
and the digits classifier that judges Amnesia.
"""
