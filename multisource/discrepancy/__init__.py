"""discrepancy"""
