"""The daemon's periodic parts beside the device runners: the health round, the alarm service,
the battery banks as virtual devices, the hourly rollups and the monthly report."""
