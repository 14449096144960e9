"""Test support shared by several test areas (private servers, topologies)."""
