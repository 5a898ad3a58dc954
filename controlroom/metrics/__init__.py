"""controlroom.metrics"""
