"""Bridges to other frameworks, each behind its own optional extra (``mtf_pose.integrations.ray``: ``pip install
'mtf_pose[ray]'``). Nothing is imported here, so ``import mtf_pose`` never needs them."""
