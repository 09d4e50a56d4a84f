require('./dist/register');
