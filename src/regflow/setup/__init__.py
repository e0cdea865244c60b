"""Installing and running regflow outside a checkout: where an installation keeps its data and
finds its pages (`paths`), and the starter configuration of one box (`regflow init`, `init`)."""
