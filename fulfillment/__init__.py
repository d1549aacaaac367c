"""Weekly fulfillment batches with a cut-off, snapshots and shipments."""
