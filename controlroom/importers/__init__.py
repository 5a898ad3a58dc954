"""Bringing experiments written for other chaos tools into the room as scenarios (`controlroom import`)."""
