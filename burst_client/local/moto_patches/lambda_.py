"""Lambda gaps: GetAccountSettings, layers from CloudFormation."""

from __future__ import annotations

import functools
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.core.exceptions import ServiceException

from burst_client.local.moto_patches.registry import Undo, patch, patch_inherited, undo_all, workaround


def lambda_account_settings(account_id: str, region: str, concurrency: int) -> dict[str, Any]:
    """Gap 15 (no patch: the endpoint answers it): moto has no lambda:GetAccountSettings

    GET /2016-08-19/account-settings/ answers 404, and clients call it to check a job's concurrency against the
    account's. The endpoint's middleware (:class:`burst_client.local.middleware.LambdaInvokeMiddleware`) answers it
    itself with this body: its concurrency limit, and moto's functions as usage.
    """
    functions = list(lambda_backends[account_id][region].list_functions())
    reserved = sum(int(fn.reserved_concurrency or 0) for fn in functions)
    return {
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800,
            "CodeSizeUnzipped": 262_144_000,
            "CodeSizeZipped": 52_428_800,
            "ConcurrentExecutions": concurrency,
            "UnreservedConcurrentExecutions": max(concurrency - reserved, 0),
        },
        "AccountUsage": {
            "TotalCodeSize": sum(int(fn.code_size or 0) for fn in functions),
            "FunctionCount": len(functions),
        },
    }


@workaround("cfn-lambda-layers")
def _apply_cfn_lambda_layers() -> Undo:
    """Gap 31: CloudFormation layers: random name, Ref is a repr, functions lose Layers, updates turn them into None

    Lambda layers do not survive CloudFormation (moto.awslambda.models.LayerVersion and
    LambdaFunction.*_from_cloudformation_json), so the framework's HelpersLayer cannot be used:
     a) an AWS::Lambda::LayerVersion is named <stack>-<logical id>-<random>, not its LayerName, and loses its
        CompatibleArchitectures;
     b) Ref to it gives the Python object's repr instead of the version's ARN (it has no physical_resource_id), so the
        stack's output and any function's Layers get garbage;
     c) an AWS::Lambda::Function ignores its Layers on create;
     d) a stack update with new layer content (the framework redeployed) turns the resource into None (no update
        handler) instead of publishing a new version, and a stack delete leaves the version behind.
    On AWS a function keeps running with a layer version after it was deleted (only new functions cannot use it):
    deleted versions stay readable by the local runtime through layer_version().
    """
    from moto.awslambda.models import LambdaBackend, LambdaFunction, LayerVersion  # noqa: PLC0415

    def publish(properties: dict[str, Any], name: str, account_id: str, region_name: str) -> Any:
        spec = {"Content": properties["Content"], "LayerName": name}
        for prop in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            if prop in properties:
                spec[prop] = properties[prop]
        return lambda_backends[account_id][region_name].publish_layer_version(spec)

    def delete_version(layer: Any) -> None:
        lambda_backends[layer.account_id][layer.region].delete_layer_version(layer.name, str(layer.version))

    def create(
        cls: type[Any],
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        return publish(cloudformation_json["Properties"], resource_name, account_id, region_name)

    def update(  # noqa: PLR0917 - moto's signature
        cls: type[Any],
        /,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        # every property of a layer version needs a replacement: a new version, then the old one is deleted
        replacement = publish(cloudformation_json["Properties"], new_resource_name, account_id, region_name)
        if original_resource is not None:
            delete_version(original_resource)
        return replacement

    def delete(
        cls: type[Any],
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        found = layer_version(resource_name)  # the physical resource id: the version's ARN
        if found is not None:
            delete_version(found)

    original_delete = LambdaBackend.delete_layer_version

    @functools.wraps(original_delete)
    def delete_layer_version(self: Any, layer_name: str, layer_version_number: str) -> None:
        try:
            found = self.get_layer_version(layer_name, layer_version_number)
        except ServiceException:
            found = None
        original_delete(self, layer_name, layer_version_number)
        if found is not None:
            _retired_layers[found.arn] = found

    create_function = LambdaFunction.__dict__["create_from_cloudformation_json"].__func__

    def create_function_with_layers(
        cls: type[Any], /, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        fn = create_function(cls, resource_name, cloudformation_json, *args, **kwargs)
        layers = cloudformation_json["Properties"].get("Layers")
        if layers:
            fn.layers = fn._get_layers_data(layers)
        return fn

    return undo_all(
        [
            patch(LayerVersion, "cloudformation_name_type", staticmethod(lambda: "LayerName")),
            patch_inherited(LayerVersion, "physical_resource_id", property(lambda self: self.arn)),
            patch(LayerVersion, "create_from_cloudformation_json", classmethod(create)),
            patch_inherited(LayerVersion, "update_from_cloudformation_json", classmethod(update)),
            patch_inherited(LayerVersion, "delete_from_cloudformation_json", classmethod(delete)),
            patch(LambdaBackend, "delete_layer_version", delete_layer_version),
            patch(LambdaFunction, "create_from_cloudformation_json", classmethod(create_function_with_layers)),
        ]
    )


_retired_layers: dict[str, Any] = {}  # layer version ARN -> moto's LayerVersion, deleted from its backend


def layer_version(arn: str) -> Any | None:
    """moto's ``LayerVersion`` for a layer version ARN, also after it was deleted; None if there never was one."""
    parts = arn.split(":")
    if len(parts) != 8 or parts[5] != "layer":
        return None
    found = lambda_backends[parts[4]][parts[3]].layers_versions_by_arn(arn)
    return found if found is not None else _retired_layers.get(arn)
