"""Dataset families: each turns options (and manifests) into a Plan of RemoteFiles."""
