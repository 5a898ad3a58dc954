"""controlroom.targets"""
