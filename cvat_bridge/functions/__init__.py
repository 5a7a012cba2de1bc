"""Every trained model as a Nuclio function for CVAT: rendering its folder, deploying it through the
Nuclio dashboard, and the deployment's state."""
