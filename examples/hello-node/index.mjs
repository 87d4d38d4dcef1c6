export const handler = async (event, context) => {
  const name = event?.name ?? "world";
  console.log(`saying hello to ${name}`);
  return { message: `Hello, ${name}!`, requestId: context.awsRequestId };
};
