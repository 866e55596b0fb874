"""Offline evaluation of routers: data loading, metrics (APGR, CPT, AIQ), baselines, bootstrap intervals, reports."""
