"""HTTP only: routers per API family, request/response models, status codes, auth."""
