"""controlroom.report"""
