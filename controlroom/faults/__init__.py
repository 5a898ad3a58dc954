"""controlroom.faults"""
