'use strict';

// `sls package` of a service with layers, without AWS credentials or network (as the packaging tests run).
// osls compares every layer with the one of the deployed stack (CloudFormation DescribeStacks, to reuse an
// unchanged layer's upload) even when it only packages, and so fails with "AWS provider credentials not
// found". Under `sls package` that comparison only chooses the S3 key written into the template: when it
// cannot be made, the layer is packaged as a new upload and a notice says why. `sls deploy` compares as
// before (and fails as before without credentials).
class PackageOffline {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.log = log;
    this.hooks = {
      'before:package:compileLayers': () => this.tolerateLayerComparison(),
    };
  }

  tolerateLayerComparison() {
    if (this.serverless.processedInput.commands[0] !== 'package') return;
    const compiler = this.serverless.pluginManager.plugins.find(
      (plugin) => plugin.constructor.name === 'AwsCompileLayers'
    );
    if (!compiler || compiler.compareWithLastLayer.tolerant) return;
    const compare = compiler.compareWithLastLayer.bind(compiler);
    const tolerant = async (layerName) => {
      try {
        return await compare(layerName);
      } catch (error) {
        if (this.log) {
          this.log.notice(
            `Layer ${layerName} not compared with the deployed stack (${error.message.split('\n')[0]}): ` +
              'packaged as a new upload'
          );
        }
        return undefined;
      }
    };
    tolerant.tolerant = true;
    compiler.compareWithLastLayer = tolerant;
  }
}

module.exports = PackageOffline;
