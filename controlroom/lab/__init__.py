"""controlroom.lab"""
