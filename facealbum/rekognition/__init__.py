"""facealbum as AWS Rekognition: the faces port on Rekognition's wire protocol (AWS JSON
1.1, SigV4-signed), so existing boto3 code that uses face collections runs unchanged."""
