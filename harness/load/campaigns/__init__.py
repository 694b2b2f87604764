"""load/campaigns"""
