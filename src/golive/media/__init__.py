"""The definitive media library (DML): write-once versions, their blobs, their TUF publication."""
