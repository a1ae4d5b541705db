"""Helpers and subprocess scripts for the reliability and security tests."""
