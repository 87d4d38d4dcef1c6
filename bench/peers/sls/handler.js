// The serverless-offline peer's echo handler: returns the event it was invoked with.
exports.echo = async (event) => event;
