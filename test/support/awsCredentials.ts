/**
 * Gives the AWS SDK's default credential chain `id` and `secret` through the environment, as a real
 * installation's would be read (for S3 stand-ins on loopback); returns what puts the environment back.
 */
export function awsCredentials(id: string, secret = id): () => void {
  const saved = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = id;
  process.env.AWS_SECRET_ACCESS_KEY = secret;
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
