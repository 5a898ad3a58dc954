"""controlroom.app"""
