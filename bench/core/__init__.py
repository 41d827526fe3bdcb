"""Foundations every layer may use: settings, DSNs, errors, the server, schema variants."""
