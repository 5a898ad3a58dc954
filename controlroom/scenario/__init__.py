"""controlroom.scenario"""
