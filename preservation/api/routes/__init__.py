"""The API's endpoints, one ``APIRouter`` an area; ``create_app`` includes them in the order of ``ROUTERS``
(which is also the order of the paths in the OpenAPI document)."""
