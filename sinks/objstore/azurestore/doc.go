// Package azurestore registers the "azblob" scheme with objstore.Open:
// Azure Blob Storage through gocloud.dev/blob's azureblob driver.
//
//	azblob://container?prefix=cluster-a
//
// Credentials and the account come from the environment, read at each
// Open:
//
//   - AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY: a shared key;
//   - AZURE_STORAGE_SAS_TOKEN (with AZURE_STORAGE_ACCOUNT): a SAS token;
//   - AZURE_STORAGE_CONNECTION_STRING: a connection string, which also
//     carries the endpoint (BlobEndpoint=…), so it is the simplest way to
//     reach Azurite;
//   - otherwise azidentity's DefaultAzureCredential (AZURE_CLIENT_ID,
//     AZURE_TENANT_ID, managed identity, az login) for AZURE_STORAGE_ACCOUNT.
//
// The service endpoint can be overridden in the URL (or by the matching
// AZURE_STORAGE_DOMAIN, AZURE_STORAGE_PROTOCOL and
// AZURE_STORAGE_IS_LOCAL_EMULATOR variables), e.g. for Azurite with a
// shared key:
//
//	azblob://container?domain=127.0.0.1:10000&protocol=http&localemu=true&prefix=cluster-a
//
// See gocloud.dev/blob/azureblob for the details. On top of those,
// blobstore.OpenURL handles prefix=, timeout=, retries= and max_uploads=,
// and checks the container at Open with one listing request.
package azurestore
